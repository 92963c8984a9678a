"""The two Slack dialects (issue #10 item 12): text a person pastes into the message box uses
only what the composer renders; what the service posts (Block Kit and its ``text``) escapes
user-supplied ``<>&`` and keeps links and date tokens."""

from __future__ import annotations

import pytest

from rollback_advisor.models import change_from_dict
from rollback_advisor.web.app import services

from .conftest import ONSET

NASTY = {"id": "d-payment-150&x", "kind": "deploy", "service": "payment",
         "at": "2026-11-20T14:03:00Z", "version": "v<150>", "previous_version": "v149",
         "author": "bob & <!channel>", "url": "https://ci.example/150"}
COMPOSER_MARKUP = ("&gt;", "&lt;", "&amp;", "<!date", "<http", "|")


@pytest.fixture
def nasty(app):
    with app.app_context():
        services().store.add_changes([change_from_dict(NASTY)])


def paste(client, auth, target="checkout"):
    r = client.get(f"/api/v1/suspects?target={target}&at={ONSET}&format=slack", headers=auth)
    assert r.status_code == 200 and r.mimetype == "text/plain"
    return r.get_data(as_text=True)


def test_paste_form_has_no_markup_the_composer_shows_literally(client, auth):
    """format=slack: no escapes, no <url|text>, no <!date^...>: bare links and a UTC time."""
    text = paste(client, auth)
    assert "<" not in text and ">" not in text.replace("->", "")
    for markup in COMPOSER_MARKUP:
        assert markup not in text
    assert "https://ci.example/142" in text and "2026-11-20 14:05 UTC" in text
    assert "*Top suspects*" in text and "`d-payment-142`" in text


def test_paste_form_shows_user_text_as_typed(client, auth, nasty):
    """The composer escapes what it sends: escaping here would show ``&lt;`` to readers."""
    text = paste(client, auth)
    assert "deploy of payment v<150>" in text and "by bob & <!channel>" in text
    assert "`d-payment-150&x`" in text
    assert "&lt;" not in text and "&amp;" not in text


def test_block_kit_escapes_user_text_and_keeps_links_and_dates(client, auth, nasty):
    """Posted through the API, ``<>&`` in user text are escaped (a ``<!channel>`` in an author
    must not ping the channel) while links and date tokens are ours and render."""
    body = client.get(f"/api/v1/suspects/blocks?target=checkout&at={ONSET}",
                      headers=auth).get_json()
    texts = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    texts.append(body["text"])
    joined = "\n".join(texts)
    assert "<!channel>" not in joined and "v<150>" not in joined
    assert "by bob &amp; &lt;!channel&gt;" in joined and "v&lt;150&gt;" in joined
    assert "`d-payment-150&amp;x`" in joined
    assert "<https://ci.example/150|deploy of payment v&lt;150&gt;>" in joined
    assert "<!date^" in body["text"] and "<!date^" in texts[0]
    assert "-&gt; payment" in joined and "-> payment" not in joined
