#!/usr/bin/env python3
"""The rules bench/soak judges by, on made-up input: the growth rule passes a
server that levels off after its warm-up and fails one that keeps climbing;
the throttle rule counts 401s per sliding window; the log scan finds error
lines and secrets. (The soak itself shows them on the real server; these show
they can fail.)"""

import os
import random
import sys
import tempfile
import types
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))

from soaklib import checks, hostile, report  # noqa: E402


def rows(values, warmup_samples=0, key="rss"):
    return [{"t": float(i), key: v} for i, v in enumerate(values)], float(warmup_samples)


def growth(values, limit, stat="max", warmup_samples=0):
    r, warmup = rows(values, warmup_samples)
    return report.Growth("x", "", [x["rss"] for x in report.steady(r, warmup)], limit, stat)


class GrowthRule(unittest.TestCase):
    def test_flat_with_noise_passes(self):
        rnd = random.Random(1)
        g = growth([60 + rnd.uniform(-0.5, 0.5) for _ in range(60)], 8)
        self.assertTrue(g.ok(), g.describe())

    def test_rise_in_the_warm_up_then_flat_passes(self):
        values = [20 + 2 * i for i in range(20)] + [60] * 10
        self.assertTrue(growth(values, 8, warmup_samples=20).ok())
        # The same rise inside the judged part is growth.
        self.assertFalse(growth(values, 8, warmup_samples=0).ok())

    def test_a_steady_climb_fails(self):
        # 0.5 MiB a sample over 30 samples: about 10 MiB between the thirds' maxima.
        g = growth([60 + 0.5 * i for i in range(30)], 8)
        self.assertFalse(g.ok(), g.describe())
        self.assertAlmostEqual(g.growth, 10.0)

    def test_a_climb_under_the_limit_passes(self):
        self.assertTrue(growth([60 + 0.1 * i for i in range(30)], 8).ok())

    def test_median_ignores_a_burst_and_catches_a_leak(self):
        fds = [90] * 30
        fds[25] = 150  # a momentary burst of connections in the last third
        self.assertTrue(growth(fds, 16, "median").ok())
        self.assertFalse(growth(fds, 16, "max").ok())
        leak = [90 + 2 * i for i in range(30)]  # two descriptors a sample, never given back
        g = growth(leak, 16, "median")
        self.assertFalse(g.ok(), g.describe())

    def test_too_few_samples_never_pass(self):
        g = growth([60] * 8, 8)
        self.assertFalse(g.ok())
        self.assertIn("too few samples", g.describe())


class ThrottleRule(unittest.TestCase):
    def judge(self, times):
        w = types.SimpleNamespace(throttle_401_times=times,
                                  server={"per_username_max": 5, "per_username_window_s": 300})
        return hostile.throttle_problem(w)

    def test_limit_per_window(self):
        self.assertIsNone(self.judge([0, 1, 2, 3, 4]))
        self.assertIsNotNone(self.judge([0, 1, 2, 3, 4, 5]))
        # Five more once the first five have left the window.
        self.assertIsNone(self.judge([0, 1, 2, 3, 4, 300, 301, 302, 303, 304]))
        self.assertIsNotNone(self.judge([0, 1, 2, 3, 4, 299.5]))


class LogScan(unittest.TestCase):
    def scan(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
            f.write(text)
            f.flush()
            return checks.scan_log(f.name, ["soak-password-1", "c0ffee" * 3])

    def test_clean_log(self):
        bad, leaks = self.scan("2026-12-01T15:32:35.668Z info access method=GET path=/api/user status=200\n"
                               "2026-12-01T15:32:36.852Z warning login throttled: user=soak-locked\n")
        self.assertEqual((bad, leaks), ([], []))

    def test_error_lines_and_secrets(self):
        bad, leaks = self.scan("2026-12-01T15:32:35.668Z error storage error while x\n"
                               "2026-12-01T15:32:35.669Z info token " + "ab" * 128 + "\n"
                               "2026-12-01T15:32:35.670Z info login password=soak-password-1\n"
                               "2026-12-01T15:32:35.671Z info cookie c0ffeec0ffeec0ffee\n")
        self.assertEqual(len(bad), 1)
        self.assertEqual(len(leaks), 3)
        self.assertNotIn("ab" * 16, repr(leaks))  # the report never repeats the secret


if __name__ == "__main__":
    unittest.main(verbosity=2)
