"""Trainer-native protocols (OpenRLHF, slime, NeMo Gym) translated onto the one scoring core."""
