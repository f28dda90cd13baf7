"""Rule groups the validate pass runs: step config, the step graph, inline secrets."""
