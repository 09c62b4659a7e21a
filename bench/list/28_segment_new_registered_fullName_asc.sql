\set d random(0, 900)
SELECT customer_mgmt.get_customers(segment => 'new', registered_after => timestamptz '2024-01-01' + make_interval(days => :d),
                                   registered_before => timestamptz '2024-01-01' + make_interval(days => :d + 30),
                                   sort_by => 'fullName', sort_order => 'ASC', as_of => '2026-11-01');
