from fortellis_nb.widgets import AuthorizeLink

from .conftest import text


def test_the_link_and_the_parameters_explained(flow):
    link = AuthorizeLink(flow)
    request = link.request
    assert request is flow.request and request.scopes == ("openid", "offline_access")
    assert f'href="{request.url.replace("&", "&amp;")}"' in link.link.value
    assert 'target="_blank"' in link.link.value and "fnb-authorize-link" in link.link._dom_classes
    table = text(link.table)
    for name in ("client_id", "response_type", "scope", "redirect_uri", "state", "nonce"):
        assert name in table
    assert "trailing / included" in table and "CSRF" in table
    assert "curl --request GET" in link.request_view.curl_text


def test_scopes_and_pkce_make_a_fresh_url(flow):
    link = AuthorizeLink(flow)
    first = link.request
    link.offline_box.value = False
    assert link.request.params["scope"] == "openid" and link.request.state != first.state
    link.pkce_box.value = True
    assert link.request.params["code_challenge_method"] == "S256" and "code_challenge" in text(link.table)
    link.more_scopes.value = "profile email"
    assert link.request.scopes == ("openid", "profile", "email")
    link.new_button.click()
    assert link.request.params["scope"] == "openid profile email"


def test_no_scope_at_all_is_explained_in_the_widget(flow):
    link = AuthorizeLink(flow, scopes="openid")
    link.openid_box.value = False
    box = text(link.error)
    assert "Making the authorize URL failed" in box and "No scope requested" in box
    assert "What to do: Tick at least openid" in box and "Traceback" not in box
    link.openid_box.value = True
    assert link.error.value == "" and link.request.params["scope"] == "openid"


def test_on_a_hub_the_link_goes_through_the_jupyter_proxy(sandbox, clock):
    from urllib.parse import urlsplit

    from fortellis_nb.local import sandbox_client
    from fortellis_nb.widgets import Flow

    client = sandbox_client(sandbox.info, env={"JUPYTERHUB_SERVICE_PREFIX": "/user/learner/"}, clock=clock)
    link = AuthorizeLink(Flow(client, live=False))
    port = urlsplit(sandbox.info.base_url).port
    assert f'href="/user/learner/proxy/{port}/oauth2/' in link.link.value
    assert "fnb-proxied" in link.link.value and sandbox.info.base_url in text(link.link)
    assert link.request.params["redirect_uri"] == sandbox.info.redirect_uri  # the kernel's, unchanged


def test_on_a_hub_the_plain_request_s_link_goes_through_the_proxy_too(sandbox, clock):
    """The output of a cell that shows the request (notebook 02's), not only the widget's link."""
    from urllib.parse import urlsplit

    from fortellis_nb.local import sandbox_client

    request = sandbox_client(sandbox.info, env={"JUPYTERHUB_SERVICE_PREFIX": "/user/learner/"},
                             clock=clock).authorization_url()
    port = urlsplit(sandbox.info.base_url).port
    assert request.link.startswith(f"/user/learner/proxy/{port}/oauth2/") and request.url.startswith(sandbox.info.base_url)
    shown = request._repr_html_()
    assert f'href="/user/learner/proxy/{port}/oauth2/' in shown and "Through the Jupyter server's proxy" in shown
    assert f"](/user/learner/proxy/{port}/oauth2/" in request._repr_markdown_()
    direct = sandbox_client(sandbox.info, env={}, clock=clock).authorization_url()
    assert direct.browser_url is None and direct.link == direct.url and "proxy" not in direct._repr_html_()


def test_a_cell_reading_the_redirect_itself_renews_the_link(client):
    # Notebook 02 run from the top: the widget shows the request the cell made, a later cell
    # signs in headless and reads the redirect. The link then offers a fresh state: one
    # clicked afterwards must not lead to "state already used".
    request = client.authorization_url(scopes="openid offline_access")
    link = AuthorizeLink(client, scopes="openid offline_access")
    assert link.request is request
    client.parse_redirect(client.sign_in_headless(request))
    assert link.request is not request and link.request.state in client.states
    assert link.request.state in link.link.value and request.state not in link.link.value
    another = client.authorization_url(scopes="openid")  # a request the widget does not show
    shown = link.request
    client.parse_redirect(client.sign_in_headless(another))
    assert link.request is shown  # reading another request's redirect changes nothing here
