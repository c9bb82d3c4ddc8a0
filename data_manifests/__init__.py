"""Class names, split lists and expected files of the real datasets (package data)."""
