"""Every route of the site and every operation of the API has a line in the route table, and no line is stale."""

from .policy import DOC, POLICY, ROUTES, configured_routes


def test_every_route_has_a_table_entry_and_every_entry_a_route():
    operations, web = configured_routes()
    table_paths = {path for (_, path) in ROUTES}
    missing = sorted(operations - set(ROUTES)) + sorted(path for path in web if path not in table_paths)
    assert not missing, f"Routes without an entry in {DOC.name}: {missing}"
    stale = sorted(key for key in ROUTES if key not in operations and key[1] not in web)
    assert not stale, f"Entries in {DOC.name} for routes that do not exist: {stale}"
    unknown = sorted({entry for entry in ROUTES.values() if entry not in POLICY})
    assert not unknown, f"Routes ruled by a resource and verb the policy does not list: {unknown}"
    print(f"\n{len(operations)} API operations and {len(web)} web URL patterns: {len(ROUTES)} routes covered")
    assert len(ROUTES) >= len(operations) + len(web)
