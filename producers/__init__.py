"""Producers: seeded simulated sources, chaos injection and ground truth, the Kinesis writer."""
