"""The demo home's synthetic Japanese data (`kura demo`): one module per area, entered through
the services as the demo users; `kura.demo.seed` builds the home and runs them in order.

It sits above the domain packages and below the CLI (import-linter): the domain never
imports its demo data.
"""
