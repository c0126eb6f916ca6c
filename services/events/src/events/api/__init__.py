"""HTTP routers: parse, check role and tenant, call the domain."""
