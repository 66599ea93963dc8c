"""Looks that several views share, defined once so that a panel never imports a sibling panel for them."""

#: a warning that is not an error: a model's caveat, an unusual trial
NOTICE_STYLE = "color: #6b4400; background: #fff4d6; border: 1px solid #e8c66a; padding: 4px;"
