-- customer_mgmt: Settings: the shop's thresholds and time zone, read with setting() and
-- changed by admins with set_setting().

-- Settings
CREATE OR REPLACE FUNCTION setting(name text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(s.value, d.default_value)
      FROM customer_mgmt.setting_definitions d
      LEFT JOIN customer_mgmt.settings s ON s.name = d.name
     WHERE d.name = setting.name
$$;
COMMENT ON FUNCTION setting(text) IS 'The value of a setting: the shop''s override, else its default; NULL for an unknown name.';

CREATE OR REPLACE FUNCTION set_setting(name text, value text) RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    def customer_mgmt.setting_definitions;
    v text := btrim(value);
    n numeric;
    before text;
BEGIN
    SELECT * INTO def FROM customer_mgmt.setting_definitions d WHERE d.name = set_setting.name;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_invalid('name', 'is not a known setting', set_setting.name,
            'See table customer_mgmt.setting_definitions.');
    END IF;
    before := customer_mgmt.setting(def.name);
    IF v IS NULL OR v = '' THEN
        -- back to the default
        DELETE FROM customer_mgmt.settings s WHERE s.name = def.name;
        PERFORM customer_mgmt.audit('set_setting', 'setting', def.name,
                                    jsonb_build_object('before', before, 'after', def.default_value));
        RETURN def.default_value;
    END IF;
    IF def.value_type = 'text' THEN
        v := customer_mgmt.check_text('value', v, coalesce(def.max_value, 2000)::integer);
    ELSIF def.value_type = 'choice' THEN
        IF NOT v = ANY (def.choices) THEN
            PERFORM customer_mgmt.raise_invalid('value', 'must be one of ' || array_to_string(def.choices, ', '), v);
        END IF;
    ELSIF def.value_type = 'timezone' THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names t WHERE t.name = v) THEN
            PERFORM customer_mgmt.raise_invalid('value', 'must be a time zone name like Asia/Ho_Chi_Minh', v);
        END IF;
    ELSE
        IF v !~ (CASE def.value_type WHEN 'integer' THEN '^-?[0-9]{1,9}$' ELSE '^-?[0-9]{1,15}(\.[0-9]{1,6})?$' END) THEN
            PERFORM customer_mgmt.raise_invalid('value', 'must be ' ||
                CASE def.value_type WHEN 'integer' THEN 'a whole number' ELSE 'a number' END, v);
        END IF;
        n := v::numeric;
        IF n < def.min_value OR n > def.max_value THEN
            PERFORM customer_mgmt.raise_invalid('value',
                format('must be between %s and %s', coalesce(def.min_value::text, '-inf'), coalesce(def.max_value::text, 'inf')), v);
        END IF;
    END IF;
    INSERT INTO customer_mgmt.settings AS s (name, value, updated_at, updated_by)
    VALUES (def.name, v, now(), customer_mgmt.current_actor())
    ON CONFLICT ON CONSTRAINT settings_pkey
    DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by;
    PERFORM customer_mgmt.audit('set_setting', 'setting', def.name, jsonb_build_object('before', before, 'after', v));
    RETURN v;
END
$$;
COMMENT ON FUNCTION set_setting(text, text) IS
    'Admin: sets a setting (validated against its definition); NULL or empty restores the default. Returns the value in force.';

CREATE OR REPLACE FUNCTION get_settings() RETURNS jsonb
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.page_envelope(jsonb_agg(jsonb_build_object(
               'name', d.name, 'value', coalesce(s.value, d.default_value), 'defaultValue', d.default_value,
               'isDefault', s.name IS NULL, 'valueType', d.value_type, 'minValue', d.min_value, 'maxValue', d.max_value,
               'choices', to_jsonb(d.choices), 'description', d.description,
               'updatedAt', s.updated_at, 'updatedBy', s.updated_by) ORDER BY d.name),
                                       count(*), 1, greatest(count(*), 1)::integer)
      FROM customer_mgmt.setting_definitions d
      LEFT JOIN customer_mgmt.settings s ON s.name = d.name
$$;
COMMENT ON FUNCTION get_settings() IS
    'Admin: every setting, by name: the value in force, the default and whether it is in force, the type with its bounds or choices, what it does, and who changed it when; the list envelope, every setting on one page.';
