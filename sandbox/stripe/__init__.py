"""A Stripe stand-in: the objects and calls the product makes, in Stripe's wire format, with a
hosted checkout page, a clock to advance, and webhook delivery signed like `stripe listen`."""
