"""OML, the Osiris Markup Language: text -> positioned YAML tree -> typed IR + diagnostics."""
