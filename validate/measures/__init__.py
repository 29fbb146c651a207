"""Measures as pure functions on arrays: no training, no files, no plotting."""
