"""The Tasks demo: ``oakling demo`` serves ``examples.tasks.app:create_app``."""
