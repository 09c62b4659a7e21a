\set r random(1, 500)
SELECT customer_mgmt.get_customers(search => t.term, status => 'active', sort_by => 'totalSpent', sort_order => 'DESC', as_of => '2026-11-01')
  FROM bench_terms t WHERE t.kind = 'email' AND t.n = :r;
