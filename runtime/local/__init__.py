"""The local runtime: a streaming executor of compiled manifests on threads and bounded channels."""
