"""Sensing: everything between a sensor and SI-unit samples on one time base.

Profiles and codecs, the BLE client, packet sources (BLE, simulated, replay), the timebase,
recording files and the simulated sensors. Knows nothing about hip hinges.
"""
