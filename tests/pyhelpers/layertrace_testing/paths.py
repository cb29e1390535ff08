"""Reading `--format path` lines and matching them against the catalog's expected hops."""
import fnmatch


def parse_path_line(line):
    """'app user.py:main -> ext _ctypes.so -> ...' -> [(role, module, symbol), ...]"""
    if line.startswith("[tid "):
        line = line[line.index("] ") + 2:]
    hops = []
    for text in line.split(" -> "):
        role, _, rest = text.partition(" ")
        module, _, symbol = rest.partition(":")
        hops.append((role, module, symbol))
    return hops


def _globs(value):
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def hop_matches(expected, hop):
    role, module, symbol = hop
    if expected.get("role") and expected["role"] != role:
        return False
    globs = _globs(expected.get("module"))
    if globs is not None and not any(fnmatch.fnmatch(module, g) for g in globs):
        return False
    globs = _globs(expected.get("symbol"))
    if globs is None:
        return True
    # A qualified Python name ("Publisher.publish") also matches by its last component.
    candidates = [symbol] + ([symbol.rsplit(".", 1)[1]] if "." in symbol else [])
    return any(fnmatch.fnmatch(c, g) for c in candidates for g in globs)


def appears_in_order(expected_hops, hops):
    """The catalog's hops appear in `hops` in order; other hops (siblings of the chain's calls)
    may come between them, as in tracer::pathMatches."""
    i = 0
    for hop in hops:
        if i < len(expected_hops) and hop_matches(expected_hops[i], hop):
            i += 1
    return i == len(expected_hops)


def path_in_lines(expected_hops, text):
    """The catalog's hops appear in order in one path line of `text`."""
    return any(appears_in_order(expected_hops, parse_path_line(line)) for line in text.splitlines() if line.strip())
