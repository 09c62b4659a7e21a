SELECT customer_mgmt.get_customers(segment => 'churned', sort_by => 'churnRiskScore', sort_order => 'DESC', as_of => '2026-11-01');
