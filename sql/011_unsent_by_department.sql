-- 011_unsent_by_department: oro-notify finds the unsent deliveries of the
-- departments it has clients for without reading the others' (issue 6,
-- docs/performance.md, eleventh round).
--
-- oro-notify looks for the pending deliveries (sent by nobody yet) of the
-- departments with a connected client at every push. Through an index on
-- id alone it read every pending delivery and dropped those of departments
-- without a client: a department that keeps no client connected, or none
-- for a weekend, made every push read all of its deliveries (4,545 of
-- them: 9 ms a push). By (department, id) each connected department's
-- range is read on its own, in id order.
DROP INDEX delivery_unsent;
CREATE INDEX delivery_unsent ON delivery (department, id) WHERE state = 'pending';
