-- Clinic operations (issue 16): the clinic staff roles, and blocked time (leave, a meeting) as a
-- third kind of busy interval, so the EXCLUDE that prevents double bookings keeps a booking out
-- of a block.
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('reviewer', 'auditor', 'admin', 'front_desk', 'clinic_admin'));

-- A block has no patient, call or visit type; it has a label staff typed and who set it.
ALTER TABLE busy_intervals DROP CONSTRAINT busy_intervals_kind_check;
ALTER TABLE busy_intervals ADD CONSTRAINT busy_intervals_kind_check CHECK (kind IN ('appointment', 'hold', 'block'));
ALTER TABLE busy_intervals ALTER COLUMN patient_id DROP NOT NULL;
ALTER TABLE busy_intervals ALTER COLUMN type_code DROP NOT NULL;
ALTER TABLE busy_intervals ADD COLUMN label TEXT;
ALTER TABLE busy_intervals ADD COLUMN created_by TEXT;
ALTER TABLE busy_intervals ADD CONSTRAINT busy_intervals_block_has_no_patient CHECK ((kind = 'block') = (patient_id IS NULL));
ALTER TABLE busy_intervals ADD CONSTRAINT busy_intervals_block_is_labelled
    CHECK (kind <> 'block' OR (label IS NOT NULL AND created_by IS NOT NULL));
