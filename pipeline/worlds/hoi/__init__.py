"""synth-hoi: an arm picking, moving and placing objects on a table (HOI4D's stand-in)."""
