"""Pipeline definitions. Presets live in ``pipelines/configs/*.yaml``; compiled YAML is a build output."""
