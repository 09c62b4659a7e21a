\set r random(1, 500)
SELECT customer_mgmt.get_customers(search => t.term, min_orders => 1, sort_by => 'churnRiskScore', sort_order => 'DESC', as_of => '2026-11-01')
  FROM bench_terms t WHERE t.kind = 'phone' AND t.n = :r;
