"""What both roles share: data, models, embedders, the query, input rules."""
