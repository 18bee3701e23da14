"""Language detection: the template languages and those customers commonly write in."""

from __future__ import annotations

import pytest

from mailloop.language import customer_locales, detect_language

SAMPLES = [
    ("en", "I was charged twice for my order and nobody answers my emails."),
    ("en", "My package has not arrived yet, can you tell me where it is?"),
    ("de", "Meine Bestellung ist seit zwei Wochen unterwegs und niemand weiß, wo sie ist."),
    ("de", "Die App stürzt jedes Mal ab, wenn ich mich anmelden will."),
    ("fr", "J'ai été débité deux fois pour ma commande et personne ne me répond."),
    ("fr", "Bonjour, je voudrais résilier mon abonnement. Comment faire ?"),
    ("es", "Me cobraron dos veces por mi pedido y nadie responde a mis correos."),
    ("es", "La aplicación se cierra cada vez que intento iniciar sesión."),
    ("it", "Il mio pacco non è ancora arrivato, potete dirmi dove si trova?"),
    ("it", "L'applicazione si blocca ogni volta che provo ad accedere."),
    ("pt", "A minha encomenda chegou atrasada e ninguém me responde."),
    ("pt", "Muito obrigado, a entrega foi rápida e o produto funciona perfeitamente."),
    ("nl", "Ik ben twee keer gefactureerd voor mijn bestelling en niemand reageert."),
    ("nl", "Op de factuur staat het verkeerde adres, kunt u een nieuwe sturen?"),
    ("pl", "Moja paczka jeszcze nie dotarła, czy możecie mi powiedzieć, gdzie jest?"),
    ("sv", "Mitt paket har fortfarande inte kommit, kan ni säga var det är?"),
    ("ru", "С меня дважды списали деньги за заказ, и никто не отвечает на мои письма."),
]


@pytest.mark.parametrize(("language", "text"), SAMPLES, ids=[f"{lang}-{i}" for i, (lang, _) in
                                                             enumerate(SAMPLES)])
def test_detects_the_language(language: str, text: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", [
    "", "Thank you!", "ok", "???", "Order #12345 / SKU 998-221",
    "https://example.com/order/12345", "see foo.bar@example.com",
    "a\x01b\x85c " * 10, "\udcff" * 40])
def test_too_little_to_tell_gives_no_answer(text: str) -> None:
    assert detect_language(text) is None


def test_content_language_comes_first() -> None:
    text = "Meine Bestellung ist seit zwei Wochen unterwegs und niemand weiß, wo sie ist."
    assert customer_locales(text, "de-AT") == ["de-AT", "de"]
    assert customer_locales(text, "de") == ["de"]
    assert customer_locales("ok", None) == []
