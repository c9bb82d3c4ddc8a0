"""synth-street: a street with cars and pedestrians seen from a driving car (Synthia 4D's
stand-in)."""
