"""Reference data for generated orders: admin status labels, a small catalog, customers, addresses, payments.

Kept apart from the document factory (`simulator.orders`) so the factory reads as logic only.
"""

from __future__ import annotations

from typing import Final

#: Admin labels (statusDescription is obsolete and may be empty, REFERENCE §2.1).
STATUS_DESCRIPTIONS: Final[dict[str, str]] = {
    "order-created": "Processando",
    "on-order-completed": "Processando",
    "payment-pending": "Pagamento Pendente",
    "payment-approved": "Pagamento Aprovado",
    "payment-denied": "Pagamento Negado",
    "window-to-cancel": "Carência para Cancelamento",
    "ready-for-handling": "Pronto para o manuseio",
    "start-handling": "Iniciar Manuseio",
    "handling": "Preparando Entrega",
    "invoice": "Verificando Fatura",
    "invoiced": "Faturado",
    "invoice-after-cancellation-deny": "Faturado após negação do cancelamento",
    "request-cancel": "Cancelamento Solicitado",
    "waiting-for-seller-decision": "Aguardando decisão do seller",
    "cancel": "Cancelando",
    "canceled": "Cancelado",
}

CATALOG: Final = (
    ("2001", "501", "Caneca Térmica 500ml Azul", "Azul", "CT500-AZ", 12990, 14990),
    ("3105", "742", "Filtro de Papel 103 (30 un)", "30 un", "FP103-30", 4590, 4590),
    ("4410", "880", "Garrafa Inox 1L", "Prata", "GI1L-PR", 8990, 9990),
    ("5120", "913", "Kit Talheres 24 peças", "24 peças", "KT24", 15990, 19990),
    ("6033", "1002", "Cafeteira Italiana 6 xícaras", "6 xícaras", "CI6", 21990, 21990),
    ("7311", "1150", "Geladeira Frost Free 400L", "400L", "GFF400", 359900, 399900),
    ("8020", "1203", "Pano de Prato (3 un)", "3 un", "PP3", 2490, 2990),
)
PEOPLE: Final = (
    ("Ana", "Souza"),
    ("Bruno", "Lima"),
    ("Carla", "Mendes"),
    ("Diego", "Alves"),
    ("Elisa", "Rocha"),
    ("Felipe", "Costa"),
    ("Gabriela", "Nunes"),
    ("Hugo", "Pereira"),
)
ADDRESSES: Final = (
    ("01310-100", "São Paulo", "SP", "Avenida Paulista", "Bela Vista"),
    ("20040-002", "Rio de Janeiro", "RJ", "Rua da Assembleia", "Centro"),
    ("30130-010", "Belo Horizonte", "MG", "Avenida Afonso Pena", "Centro"),
    ("80010-000", "Curitiba", "PR", "Rua XV de Novembro", "Centro"),
    ("90010-150", "Porto Alegre", "RS", "Rua dos Andradas", "Centro Histórico"),
)
#: (paymentSystem, paymentSystemName, group)
PAYMENTS: Final = (
    ("2", "Visa", "creditCard"),
    ("4", "Mastercard", "creditCard"),
    ("6", "Boleto Bancário", "bankInvoice"),
    ("125", "Pix", "instantPayment"),
)
