# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A FAKE python3-sanlock binding whose acquire fails, for faults two private daemons cannot produce on demand.

Each test that uses it says which fault it stands in for; everything else in those tests is real.
"""

import os


def failing_acquire(code, strerror):
    """A binding class (used as `get_sanlock` returns it) whose acquire raises SanlockException(code)."""

    class FakeSanlock:
        class SanlockException(Exception):
            @property
            def errno(self):
                return self.args[0]

        def register(self):
            return os.open(os.devnull, os.O_RDONLY)

        def acquire(self, *_args, **_kwargs):
            raise self.SanlockException(code, "Sanlock resource not acquired", strerror)

        def release(self, *_args, **_kwargs):
            raise AssertionError("nothing was acquired")

    return FakeSanlock
