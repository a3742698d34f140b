-- 004_sealed_content: report_content holds sealed values (services/common/
-- content.h): text "s1.<key id>.<base64>", AES-256-GCM bound to the report
-- and the column. The exact age becomes a sealed text too; its band stays in
-- clear in report.age_band. Values stored before this migration are sealed
-- by `oro keys rotate`.
ALTER TABLE report_content DROP CONSTRAINT report_content_subject_age_check;
ALTER TABLE report_content ALTER COLUMN subject_age TYPE text USING subject_age::text;
