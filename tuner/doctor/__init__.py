"""``chatchat-tune doctor``: a short bounded probe of an install's endpoints, then ranked findings.

Pipeline: ``config.install_facts`` (what the install's files say) + ``probes.probe`` (what the endpoints do,
measured, I/O at the edge) → ``rules.findings`` (pure) → ``Report``. ``run.diagnose`` ties them together.
"""
