-- bench/run.sh csv: the lines of a sheet of :n customers as a shop's back
-- office saves it ("CSV UTF-8": BOM, semicolons, CRLF, Vietnamese headers
-- and names, dates day first); psql -At writes them, each ending in CR LF.
SELECT format(E'%sKH-%s;%s;%s;%s;%s;%s;%s;%s\r',
              CASE WHEN i = 1 THEN E'\uFEFFMã khách hàng;Họ tên;Email;Số điện thoại;Ngày sinh;Giới tính;Tỉnh/Thành phố;Ngày đăng ký\r\n' ELSE '' END,
              i, (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng'])[1 + i % 5] || ' ' || (ARRAY['Văn', 'Thị'])[1 + i % 2] || ' '
                  || (ARRAY['An', 'Bình', 'Cường', 'Dung', 'Giang', 'Hà', 'Khoa', 'Lan', 'Minh', 'Thuỷ'])[1 + i % 10],
              'kh' || i || '@example.vn', '09' || lpad((i::bigint * 7919 % 100000000)::text, 8, '0'),
              to_char(DATE '1960-01-01' + i % 15000, 'DD/MM/YYYY'), (ARRAY['Nam', 'Nữ'])[1 + i % 2],
              (ARRAY['Hà Nội', 'TP. Hồ Chí Minh', 'Đà Nẵng', 'Hải Phòng', 'Cần Thơ'])[1 + i % 5],
              to_char(TIMESTAMP '2024-01-01' + i * interval '1 minute', 'DD/MM/YYYY HH24:MI'))
  FROM generate_series(1, :n) i;
