"""The incident domain: models, the playbook file and its rules. Imported by every other package."""
