"""Component specs (YAML data), their JSON Schema, and the registry that loads them."""
