"""The protocol test vectors' generator, one module per group of vector files
(run through scripts/gen_vectors.py, which puts this folder's parent on the path)."""
