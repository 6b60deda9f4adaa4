//! Monthly invoices in each tenant's time zone: seats, proration, credits, credit notes. Not built yet.
