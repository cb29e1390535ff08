"""Part VI user node: publishes DemoStatus messages with rclpy_mini and prints what its subscription callback receives."""
import argparse
import signal
import sys

import rclpy_mini
from demo_interfaces.msg import DemoStatus

TOPIC = "demo_status"
QUEUE_DEPTH = 10
DEFAULT_MESSAGES = 3
EXIT_MISMATCH = 3
# Publishing is synchronous in-process, so the message is queued before spin_once waits; the
# timeout only turns a lost message into a reported mismatch instead of a hang.
SPIN_TIMEOUT_SEC = 5.0


class Mismatch(Exception):
    pass


def make_status(iteration):
    """Deterministic content that varies every field, including an empty sequence at iteration 0."""
    return DemoStatus(
        name=f"sensor-{iteration % 3}",
        sequence=iteration,
        temperature=20.0 + 0.25 * (iteration % 40),
        active=iteration % 2 == 0,
        position=[float(iteration % 7), 0.5 * (iteration % 5), -1.5],
        readings=[(iteration * 10 + k) % 1000 for k in range(iteration % 4)],
    )


class TalkerListener:
    """One node with a publisher and a subscription on the same topic, like a ROS 2 demo node pair."""

    def __init__(self, verbose):
        self.node = rclpy_mini.create_node("talker_listener")
        self.received = []
        self.verbose = verbose
        self.subscription = self.node.create_subscription(DemoStatus, TOPIC, self.on_status, QUEUE_DEPTH)
        self.publisher = self.node.create_publisher(DemoStatus, TOPIC, QUEUE_DEPTH)

    def on_status(self, msg):
        """Subscription callback: runs inside spin_once with a message converted from the C struct."""
        self.received.append(msg)
        if self.verbose:
            print(f"received:  {msg!r}")

    def run_iteration(self, iteration):
        """One iteration: exactly one publish (one minirmw_publish) and one spin_once (one take)."""
        sent = make_status(iteration)
        if self.verbose:
            print(f"published: {sent!r}")
        self.publisher.publish(sent)
        before = len(self.received)
        executed = rclpy_mini.spin_once(self.node, timeout_sec=SPIN_TIMEOUT_SEC)
        if executed != 1 or len(self.received) != before + 1:
            raise Mismatch(f"iteration {iteration}: expected one callback, {executed} ran")
        got = self.received.pop()
        if got is sent or got != sent:
            raise Mismatch(f"iteration {iteration}: sent {sent!r}, received {got!r}")
        return got


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--repeat", type=int, metavar="N",
                      help="publish and receive exactly N messages (N calls of minirmw_publish)")
    mode.add_argument("--forever", action="store_true",
                      help="loop until SIGTERM/SIGINT; print 'ready' after the first good iteration")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 0:
        parser.error(f"--repeat must be >= 0, got {args.repeat}")
    return args


def main(argv=None):
    args = parse_args(argv)
    rclpy_mini.init()
    try:
        node = TalkerListener(verbose=args.repeat is None and not args.forever)
        if args.forever:
            return run_forever(node)
        if args.repeat is not None:
            for iteration in range(args.repeat):
                node.run_iteration(iteration)
            print(f"{args.repeat} messages published on '{TOPIC}' and received in order, all equal")
            return 0
        print(f"node '{node.node.get_name()}': publisher and subscription on '{TOPIC}' "
              f"(demo_interfaces/msg/DemoStatus, depth {QUEUE_DEPTH})")
        for iteration in range(DEFAULT_MESSAGES):
            node.run_iteration(iteration)
        print(f"{DEFAULT_MESSAGES} messages published and received in order, each equal to what was sent")
        return 0
    except Mismatch as error:
        print(f"mismatch: {error}", file=sys.stderr)
        return EXIT_MISMATCH
    finally:
        rclpy_mini.shutdown()


def run_forever(node):
    stop = []
    # The handler only records the signal; the loop finishes its iteration and reports cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stop.append(received))
    completed = 0
    while not stop:
        node.run_iteration(completed)
        completed += 1
        if completed == 1:
            print("ready", flush=True)
    print(f"stopped after {completed} iterations, all correct", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
