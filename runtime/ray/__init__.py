"""The Ray backend: `osiris run --backend ray` runs a compiled manifest as Ray tasks over
partitions (docs/scale-out.md)."""
