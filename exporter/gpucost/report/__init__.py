"""`gpucost-report`: showback and chargeback tables from gpucost's series in Prometheus.

A client of the Prometheus HTTP API, not a second store: `period` reads the period flags,
`promapi` talks to Prometheus, `dimensions` says what a row is, `spend` integrates the hourly
rates over the period, `ledger` turns sums into rows (idle, sorting, totals) and `render`
prints them. `cli` wires them to the command line.
"""
