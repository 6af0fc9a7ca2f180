"""The traffic centre: the operators' API, its audit log, live junction state and dashboard.

``centre.app.create_app`` builds the FastAPI service; ``centre.cli`` adds ``nhip serve``,
which also starts the optimizer and drives the SUMO scenarios as the live field.
"""
