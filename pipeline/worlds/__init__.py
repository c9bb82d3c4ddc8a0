"""The built-in procedural worlds, rendered to depth at ingest time: no download needed.

Each world is a sub-package holding its source (the adapter `sources/` registers) and what it
builds: `hoi/` (synth-hoi: an arm moving objects on a table, HOI4D's stand-in), `street/`
(synth-street: a street with cars and pedestrians seen from a driving car, Synthia 4D's),
`gesture/` (synth-gesture: a figure performing MSR-Action3D's gestures) and `mocap/` (mocap:
real motion-capture clips shipped with pybullet, on a humanoid). They share the geometry and
the sensor: `meshes.py` (labelled triangle meshes), `kinematics.py` (poses, easing, inverse
kinematics) and `render.py` (a depth camera: ray casting, noise and dropout).
"""
