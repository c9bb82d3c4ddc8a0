"""mocap: real motion-capture clips shipped with pybullet, on a humanoid, rendered to depth."""
