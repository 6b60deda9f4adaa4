//! Reconciliation with Stripe: customers, subscriptions, invoices, payments, webhooks. Not built yet.
