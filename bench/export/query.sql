-- The export's default query, as export_plan builds it, into :q (the floor of bench/run.sh export).
SELECT format('SELECT %s FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id'
              ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id'
              ' LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = l.customer_id'
              ' CROSS JOIN (SELECT %L::text AS tz, now() AS as_of) p ORDER BY l.created_at DESC, l.customer_id DESC',
              string_agg(c.expression, ', ' ORDER BY c.n), customer_mgmt.setting('shop_timezone')) AS q
  FROM (SELECT e.*, row_number() OVER () AS n FROM customer_mgmt.export_columns() e) c WHERE c.is_default \gset
