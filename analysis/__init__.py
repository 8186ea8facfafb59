"""Analysis: pure numpy functions from SI samples to angles, reps and faults.

No I/O, no asyncio, no printing: arrays in, arrays / frozen dataclasses / DataFrames out.
"""
