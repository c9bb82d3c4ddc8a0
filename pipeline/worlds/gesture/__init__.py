"""synth-gesture: an articulated figure performing the gestures of MSR-Action3D."""
