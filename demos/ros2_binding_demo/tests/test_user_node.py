"""user_node.py as a learner runs it: default output, --repeat, --forever with signals, and the mismatch exit code."""
import signal
import subprocess
import sys

import pytest
from conftest import DEMO, run_user_node

import user_node


def expected_line(prefix, i):
    msg = user_node.make_status(i)
    return f"{prefix}{msg!r}"


def test_default_run_publishes_three_messages_and_prints_what_the_callback_received():
    result = run_user_node()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == ("node 'talker_listener': publisher and subscription on 'demo_status' "
                        "(demo_interfaces/msg/DemoStatus, depth 10)")
    assert lines[1:7] == [expected_line(prefix, i) for i in range(3) for prefix in ("published: ", "received:  ")]
    assert lines[1] == ("published: demo_interfaces.msg.DemoStatus(name='sensor-0', sequence=0, temperature=20.0, "
                        "active=True, position=array('d', [0.0, 0.0, -1.5]), readings=array('i'))")
    assert lines[6] == ("received:  demo_interfaces.msg.DemoStatus(name='sensor-2', sequence=2, temperature=20.5, "
                        "active=True, position=array('d', [2.0, 1.0, -1.5]), readings=array('i', [20, 21]))")
    assert lines[7:] == ["3 messages published and received in order, each equal to what was sent"]


def test_output_is_deterministic():
    assert run_user_node().stdout == run_user_node().stdout


@pytest.mark.parametrize("count", [0, 1, 250])
def test_repeat_runs_exactly_n_iterations(count):
    result = run_user_node("--repeat", str(count))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{count} messages published on 'demo_status' and received in order, all equal\n"


def test_repeat_counts_one_publish_and_one_callback_per_iteration(monkeypatch, capsys):
    # In-process, so the counts come from the real objects the iterations touch.
    published, taken = [], []
    real_publish = user_node.rclpy_mini.publisher.Publisher.publish
    real_take = user_node.rclpy_mini.subscription.Subscription.take_message
    monkeypatch.setattr(user_node.rclpy_mini.publisher.Publisher, "publish",
                        lambda self, msg: (published.append(msg.sequence), real_publish(self, msg))[1])
    monkeypatch.setattr(user_node.rclpy_mini.subscription.Subscription, "take_message",
                        lambda self: (taken.append(1), real_take(self))[1])
    assert user_node.main(["--repeat", "7"]) == 0
    assert published == list(range(7))
    assert len(taken) == 7
    assert "7 messages" in capsys.readouterr().out


def test_a_negative_repeat_is_a_usage_error():
    result = run_user_node("--repeat", "-1")
    assert result.returncode == 2
    assert "--repeat must be >= 0, got -1" in result.stderr


def test_a_lost_message_is_reported_as_a_mismatch_with_exit_code_3(monkeypatch, capsys):
    monkeypatch.setattr(user_node.rclpy_mini, "spin_once", lambda node, timeout_sec=None: 0)
    assert user_node.main(["--repeat", "2"]) == user_node.EXIT_MISMATCH == 3
    assert capsys.readouterr().err == "mismatch: iteration 0: expected one callback, 0 ran\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_forever_prints_ready_and_stops_cleanly_on_a_signal(signum):
    process = subprocess.Popen([sys.executable, "user_node.py", "--forever"], cwd=DEMO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        # Readiness comes through the pipe: no sleeping.
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    prefix, suffix = "stopped after ", " iterations, all correct"
    assert lines[0].startswith(prefix) and lines[0].endswith(suffix)
    assert int(lines[0][len(prefix):-len(suffix)]) >= 1
