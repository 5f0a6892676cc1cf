"""The HTTP client every connector shares: what a 429's Retry-After becomes, and which refusals
count as too large."""
import pytest
import responses

from connectors.base import RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX, HttpClient
from integration.core.contract import ApiInvalid, ApiRateLimited, ApiTooLarge

URL = "https://acme.example"


@pytest.mark.parametrize("header, seconds", [
    ("20", 20.0),
    ("0.5", 0.5),
    ("1e7", RETRY_AFTER_MAX),  # four months: capped at an hour, one tenant is never paused for months
    ("inf", RETRY_AFTER_DEFAULT),  # not finite: ignored
    ("nan", RETRY_AFTER_DEFAULT),
    ("-3", 0.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", RETRY_AFTER_DEFAULT),
    (None, RETRY_AFTER_DEFAULT),
])
@responses.activate
def test_retry_after_is_bounded(header, seconds):
    responses.get(f"{URL}/x", status=429, headers={"Retry-After": header} if header else {})
    with pytest.raises(ApiRateLimited) as e:
        HttpClient(URL).request("GET", "/x")
    assert e.value.retry_after == seconds


@pytest.mark.parametrize("status, body, error", [
    (413, "", ApiTooLarge),
    (422, '{"details": {"body": [{"description": "Body is too long"}]}}', ApiTooLarge),
    (422, '{"details": {"status": [{"description": "Status: closed prevents ticket update"}]}}', ApiInvalid),
])
@responses.activate
def test_a_write_refused_as_too_large_is_told_apart(status, body, error):
    responses.put(f"{URL}/x", status=status, body=body)
    with pytest.raises(error) as e:
        HttpClient(URL).request("PUT", "/x", json={})
    assert type(e.value) is error


def test_text_out_of_html_decodes_every_entity():
    from connectors.base import html_text

    markup = "<p>I&#39;m charged &gt; twice &amp; it&rsquo;s &quot;urgent&quot;&nbsp;!</p><p>Second&nbsp;line</p>"
    assert html_text(markup) == "I'm charged > twice & it\u2019s \"urgent\"\u00a0!\nSecond\u00a0line"
    assert html_text(None) == ""


@responses.activate
def test_a_read_gives_up_sooner_than_a_write():
    """A hanging helpdesk holds a worker for the whole timeout: reads answer in well under a second
    when the helpdesk is healthy, so they give up after 5 s; a write with a long note may take longer."""
    responses.get("https://acme.zendesk.com/api/v2/tickets/1.json", json={})
    responses.put("https://acme.zendesk.com/api/v2/tickets/1.json", json={})
    http = HttpClient("https://acme.zendesk.com")
    http.request("GET", "/api/v2/tickets/1.json")
    http.request("PUT", "/api/v2/tickets/1.json", json={})
    read, write = (call.request.req_kwargs["timeout"] for call in responses.calls)
    assert read[1] <= 5 < write[1]


@pytest.mark.parametrize("status, listed", [(403, []), (404, []), (401, None)])
@responses.activate
def test_a_picker_list_the_plan_does_not_allow_is_empty_but_revoked_credentials_still_raise(status, listed):
    """Brands, skills and tags are extras of some plans and roles: a 403 or 404 lists none and the
    roster sync carries on; a 401 is the installation's credentials, which its admin must hear of."""
    from connectors.base import optional
    from integration.core.contract import ApiUnauthorized

    responses.get("https://acme.zendesk.com/api/v2/brands.json", status=status, json={})
    http = HttpClient("https://acme.zendesk.com")
    read = lambda: http.request("GET", "/api/v2/brands.json")["brands"]  # noqa: E731
    if listed is None:
        with pytest.raises(ApiUnauthorized):
            optional(read, [])
    else:
        assert optional(read, []) == listed
