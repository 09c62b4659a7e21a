\set d random(0, 900)
SELECT customer_mgmt.get_customers(registered_after => timestamptz '2024-01-01' + make_interval(days => :d),
                                   registered_before => timestamptz '2024-01-01' + make_interval(days => :d + 90),
                                   segment => 'vip', sort_by => 'totalOrders', sort_order => 'DESC', as_of => '2026-11-01');
