\set r random(1, 500)
SELECT customer_mgmt.get_customers(search => t.term, sort_by => 'fullName', sort_order => 'ASC', as_of => '2026-11-01')
  FROM bench_terms t WHERE t.kind = 'email' AND t.n = :r;
